"""Google Drive mounting, which does nothing here."""


def mount(mountpoint: str, force_remount: bool = False) -> None:
    print(f"(test stub) not mounting Drive at {mountpoint}")
