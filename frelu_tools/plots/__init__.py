"""Figures of training runs: learning curves and FReLU bias trajectories."""
