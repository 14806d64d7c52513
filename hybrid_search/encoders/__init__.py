"""Text encoders behind the `Encoder` protocol."""
