"""The official SDK's streaming announcement, async interface, as written.

Only the first lines are rxsubstrate's: the imports, and the ``substrate`` client the
announcement leaves out (here on the embedded local engine). The client is never closed, as in
the announcement: it is released quietly when the script exits. Run it with
``python examples/announcement_async.py``.
"""

import asyncio

from rxsubstrate import GenerateText, Substrate, sb

substrate = Substrate()

a = GenerateText(prompt="tell me about windmills", max_tokens=10)
b = GenerateText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)


# async interface
async def amain():
    response = await substrate.async_stream(a, b)
    async for event in response.async_iter():
        print(event)


asyncio.run(amain())
