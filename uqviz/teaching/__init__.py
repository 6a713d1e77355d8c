"""Small teaching models for the Learn pages: each runs on the CPU in seconds, no dataset needed
(active learning uses the bundled digits)."""
