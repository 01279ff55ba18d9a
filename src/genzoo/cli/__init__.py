"""The ``genzoo`` command line: thin sub-commands over the library."""
