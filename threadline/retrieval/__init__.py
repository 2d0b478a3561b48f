"""The pure building blocks of file_search: text extraction, chunking, embeddings, ranking.

Import the modules themselves (`threadline.retrieval.chunking`, ...): numpy and the model load
only where they are used.
"""
