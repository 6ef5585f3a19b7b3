"""What params.yaml holds: typed params read and checked at parse time, and edits that keep the file whole."""
