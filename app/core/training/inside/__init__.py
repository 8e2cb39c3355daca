"""See inside a network: what each layer computes, where it looks, how signals travel."""
