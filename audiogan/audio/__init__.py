"""The enhancer application: corpus -> degrade -> data -> models/losses -> train -> export -> enhance -> evaluate."""
