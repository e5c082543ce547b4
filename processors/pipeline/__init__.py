"""The pipeline between receivers and exporters: batches, contracts, fan-out and the analysis stage."""
