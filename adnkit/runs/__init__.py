"""The run folder as one object (Run): every file a run holds, read and written in one place."""
