"""The model catalog: what each model can do and what it costs."""
