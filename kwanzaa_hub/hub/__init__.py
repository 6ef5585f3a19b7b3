"""The Hugging Face Hub: client and retry, versions and manifests, the push's commit and tag, the model card,
the checkpoint mirror, and verified pulls."""
