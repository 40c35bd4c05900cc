"""The click commands; each is thin and calls the library."""
