"""The training engine: reads the wheels' Python code to predict whether the fit compiles with XLA."""
