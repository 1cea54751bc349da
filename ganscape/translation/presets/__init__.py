"""Built-in CycleGAN configs (YAML), listed by ``ganscape translate-train --help``."""
