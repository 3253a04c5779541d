"""Scene builders and data paths that several test modules share.

Test modules import from here (or take :mod:`tests.conftest` fixtures), never from each other.
"""
