"""tfcompat: which tensorflow releases work with tensorflow-metal, found out for real."""

__version__ = "0.1.0"
