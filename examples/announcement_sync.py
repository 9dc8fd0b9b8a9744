"""The official SDK's streaming announcement, sync interface, as written.

Only the first lines are rxsubstrate's: the import, and the ``substrate`` client the
announcement leaves out (here on the embedded local engine). The client is never closed, as in
the announcement: it is released quietly when the script exits. Run it with
``python examples/announcement_sync.py``.
"""

from rxsubstrate import GenerateText, Substrate, sb

substrate = Substrate()

a = GenerateText(prompt="tell me about windmills", max_tokens=10)
b = GenerateText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)


# sync interface
def main():
    response = substrate.stream(a, b)
    for event in response.iter():
        print(event)


main()
