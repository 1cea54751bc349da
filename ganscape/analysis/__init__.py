"""Looking into trained generators: latent interpolation, style mixing, truncation."""
from ganscape.analysis.interpolation import interpolation_grid, lerp, slerp
from ganscape.analysis.style_mixing import style_mix_grid
from ganscape.analysis.truncation import truncation

__all__ = ["interpolation_grid", "lerp", "slerp", "style_mix_grid", "truncation"]
