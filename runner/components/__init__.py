"""From component specs to objects: name lookup, imports, references, expressions, wiring."""
