"""Whisper's languages by their full English names, as OpenAI's API writes them ("english").

Transcripts carry ISO 639-1 codes (``en``); OpenAI's ``verbose_json`` names the language in
full, so the server (and anyone matching OpenAI's output) reads the name here. The table is
Whisper's own (the same 100 languages faster-whisper's tokenizer knows), kept as text so it
reads as a table.
"""

from __future__ import annotations

_TABLE = """
en=english,zh=chinese,de=german,es=spanish,ru=russian,ko=korean,fr=french,ja=japanese,
pt=portuguese,tr=turkish,pl=polish,ca=catalan,nl=dutch,ar=arabic,sv=swedish,it=italian,
id=indonesian,hi=hindi,fi=finnish,vi=vietnamese,he=hebrew,uk=ukrainian,el=greek,ms=malay,
cs=czech,ro=romanian,da=danish,hu=hungarian,ta=tamil,no=norwegian,th=thai,ur=urdu,
hr=croatian,bg=bulgarian,lt=lithuanian,la=latin,mi=maori,ml=malayalam,cy=welsh,sk=slovak,
te=telugu,fa=persian,lv=latvian,bn=bengali,sr=serbian,az=azerbaijani,sl=slovenian,
kn=kannada,et=estonian,mk=macedonian,br=breton,eu=basque,is=icelandic,hy=armenian,ne=nepali,
mn=mongolian,bs=bosnian,kk=kazakh,sq=albanian,sw=swahili,gl=galician,mr=marathi,pa=punjabi,
si=sinhala,km=khmer,sn=shona,yo=yoruba,so=somali,af=afrikaans,oc=occitan,ka=georgian,
be=belarusian,tg=tajik,sd=sindhi,gu=gujarati,am=amharic,yi=yiddish,lo=lao,uz=uzbek,
fo=faroese,ht=haitian creole,ps=pashto,tk=turkmen,nn=nynorsk,mt=maltese,sa=sanskrit,
lb=luxembourgish,my=myanmar,bo=tibetan,tl=tagalog,mg=malagasy,as=assamese,tt=tatar,
haw=hawaiian,ln=lingala,ha=hausa,ba=bashkir,jw=javanese,su=sundanese,yue=cantonese
"""

LANGUAGE_NAMES: dict[str, str] = dict(
    item.split("=") for item in _TABLE.replace("\n", "").split(",")
)


def language_name(code: str) -> str:
    """The full English name of a Whisper language code (``"en"`` -> ``"english"``); a code
    Whisper does not know is returned as it is, so a caller always has something to show."""
    return LANGUAGE_NAMES.get(code.strip().lower(), code)
