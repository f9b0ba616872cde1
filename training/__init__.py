"""Training pipeline: data fetching, tokenizer and model training."""
