"""Independent cross-checks of jaxsge's results (``kwant_model``: any stack built with Kwant, optional)."""
