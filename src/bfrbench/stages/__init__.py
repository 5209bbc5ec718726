"""The pipeline stages behind the CLI commands (one module per stage)."""
