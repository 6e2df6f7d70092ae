"""Where a completion or an embedding is answered: this server's engine (``local``) or a remote
server speaking the OpenAI (``openai``) or the Mistral (``mistral``) API, behind one protocol."""
