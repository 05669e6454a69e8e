"""The questions people ask of the store, one module each, every answer a table or sections.

Each question has a parameterised view (migration 8) analysts can query themselves; the
commands read those views, or, where a walk must stop early to be fast, walk the edges
level by level and give the same answer (the tests hold them equal).
"""
