"""Options: declared once (``declared``), parsed as GNU shuf parses them (``gnu``), resolved
into the job every engine takes (``resolve``), refused by engines that lack a feature
(``features``), and named in the API's words in messages (``wording``).

Empty on purpose: the command imports ``declared`` and ``gnu`` before numpy is loaded, and
importing this package must not pull ``resolve`` in with them.
"""
