"""The speech room: Whisper transcription and translation, subtitles, speaker labels."""
