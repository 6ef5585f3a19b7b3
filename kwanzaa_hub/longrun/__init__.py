"""What a long training run needs besides the training: the checks that stop it before it starts (``preflight``)
and the checkpoint mirror that lets it outlive a lost VM (``mirror``: a Hub branch or a Drive folder)."""
