"""Data: datasets and the `Source` interface, the cache, splits, exports of a dataset's
columns, sources of a user's files and of Croissant datasets."""
