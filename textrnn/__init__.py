"""textrnn: recurrent networks for text classification and slot filling, from the shell."""

__version__ = "0.1.0"
