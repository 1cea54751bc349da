"""ganscape: train, evaluate and compare GANs fairly, with interchangeable parts."""
__version__ = "0.1.0"
