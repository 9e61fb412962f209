"""How well regions match the pathologist's: ARI, NMI, per-region F1, and the tables people read."""
