'use strict'
// The echo server of Vonage's "Call a WebSocket" tutorial, in its shape (express and
// express-ws, an answer webhook, an event webhook, a /socket route that sends every
// message back), kept as the Node peer the bench measures audio_socket against.
// Usage: node index.js PORT   (QUIET=1: no log line per event or connection)
const express = require('express')
const bodyParser = require('body-parser')

const app = express()
const expressWs = require('express-ws')(app)
const quiet = Boolean(process.env.QUIET)

app.use(bodyParser.json())

app.get('/webhooks/answer', (req, res) => {
  res.status(200).json([
    { action: 'talk', text: 'Please wait while we connect you to the echo server' },
    {
      action: 'connect',
      from: 'NexmoTest',
      endpoint: [
        { type: 'websocket', uri: `wss://${req.hostname}/socket`, 'content-type': 'audio/l16;rate=16000' }
      ]
    }
  ])
})

app.post('/webhooks/events', (req, res) => {
  if (!quiet) console.log(req.body)
  res.sendStatus(200)
})

expressWs.getWss().on('connection', () => {
  if (!quiet) console.log('Websocket connection is open')
})

// The tutorial's whole audio path: each message straight back, text or binary.
app.ws('/socket', (ws) => {
  ws.on('message', (msg) => ws.send(msg))
})

const port = Number(process.argv[2] || process.env.PORT || 3000)
const host = process.env.HOST || '127.0.0.1'
app.listen(port, host, () => console.log(`Listening on ${host}:${port}`))
