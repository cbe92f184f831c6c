"""Safe decoding of user media: audio (``media.audio``) and images (``media.image``).

Every decoder turns a bad file into a :class:`~polymodal.errors.BadInputError` that names the
file and the problem, never a traceback from the codec underneath.
"""
