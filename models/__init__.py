"""Model cards shipped with riskopt (installed as ``riskopt.models``): ``riskopt run NAME``."""
