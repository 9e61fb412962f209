"""Input and output: reading sections as published, downloading and verifying them, writing files whole.

Everything that touches a file format or the network lives here, so the method
and evaluation code below sees AnnData and arrays only.
"""
