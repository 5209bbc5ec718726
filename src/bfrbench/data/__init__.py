"""Face data: registry-package photo sources, detection and FFHQ-style alignment, the smoke face set.

Nothing is imported here on purpose: dlib and OpenCV load only when a submodule that needs them is used.
"""
