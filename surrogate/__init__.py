"""bonas surrogate library: search spaces, encodings, the GCN surrogate, acquisition and samplers.

A pure library: it touches no database, no network and no environment variable, and imports
none of bonas's other packages, so that it can be used (and tested) on its own.
"""
