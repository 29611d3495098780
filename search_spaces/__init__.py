"""Search-space files shipped with evoact (mapped here from the repository's search_spaces/ folder)."""
