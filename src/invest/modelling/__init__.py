"""Modelling layer: the network, its inputs and scaling, splits, training, checkpoints."""
