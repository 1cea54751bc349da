"""GAN Dissection (Bau et al. 2019): which units of a generator draw which concept, and what editing them does."""
