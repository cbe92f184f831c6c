"""The vision room: CLIP embeddings, classification, similarity, duplicates, moderation."""
