"""The headless surface: notebooks on disk, executed with nbclient, for `jupyter layers ...`."""
