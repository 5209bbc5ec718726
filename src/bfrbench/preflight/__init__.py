"""`bfrbench preflight`: every training stage of a profile built from its real config, run a few optimizer steps
under its strategy, checkpointed, resumed for one more step and exported; then each method restores and scores a
few images. It measures what a GPU week needs to know first (memory, seconds per step, data loading) and projects
the profile's wall time. See docs/preflight.md."""
