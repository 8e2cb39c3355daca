"""Qt-free core: graph model, shape checking, compiler, serialization."""
