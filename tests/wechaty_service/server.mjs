// A Wechaty puppet service (gRPC, TLS off) with a mock puppet behind it, for the real-stack
// tests (tests/test_wechaty_service.py). A loopback HTTP control port lets the tests log the
// account in, make contacts and rooms, have a contact say something (any message type), join
// a room, and read what the bot sent. Usage: node server.mjs GRPC_PORT CONTROL_PORT [SENT_LOG]
// It prints one line "ready" once both ports listen. With SENT_LOG, every send it accepts is
// also appended to that file (one JSON line, written before the bot hears it was sent), so a
// test that kills the service still knows what reached it.
import fs from 'node:fs'
import http from 'node:http'
import * as PUPPET from 'wechaty-puppet'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const [grpcPort, controlPort] = process.argv.slice(2, 4).map(Number)
const sentLog = process.argv[4]
const TOKEN = 'insecure_groupbuy'

// The mock drops the mention list and returns no id: record every send, with an id.
class RecordingPuppet extends PuppetMock {
  sent = []
  record (entry) {
    const id = `sent-${this.sent.length + 1}`
    this.sent.push({ id, ...entry })
    if (sentLog) fs.appendFileSync(sentLog, JSON.stringify({ id, ...entry }) + '\n')
    return id
  }
  async messageSendText (conversationId, text, mentionIdList) {
    return this.record({ conversation: conversationId, text, mentions: mentionIdList || [] })
  }
  async messageSendFile (conversationId, file) {
    return this.record({ conversation: conversationId, file: file.name })
  }
}

const mocker = new mock.Mocker()
const puppet = new RecordingPuppet({ mocker })

const actions = {
  async contact ({ id, name, friend = true }) {
    mocker.createContact({ id, name, friend })
    return { id }
  },
  async room ({ id, topic, members }) {
    mocker.createRoom({ id, topic, memberIdList: members })
    return { id }
  },
  async login ({ id, name }) {
    const user = mocker.cacheContactPayload.has(id) ? mocker.ContactMock.load(id) : mocker.createContact({ id, name })
    mocker.login(user)
    return { id }
  },
  async message ({ id, from, room, to, text, type = 'Text', mentions = [], timestamp }) {
    const payload = {
      id,
      talkerId: from,
      roomId: room || undefined,
      listenerId: room ? undefined : (to || puppet.currentUserId),
      text,
      type: PUPPET.types.Message[type],
      mentionIdList: mentions,
      timestamp: timestamp || Date.now(),
    }
    if (mocker.cacheMessagePayload.has(id)) {
      mocker.cacheMessagePayload.set(id, payload) // delivered again, as a gateway may
    } else {
      mocker.MessageMock.create(payload)
    }
    puppet.emit('message', { messageId: id })
    return { id }
  },
  async join ({ room, invitees, inviter }) {
    const payload = mocker.roomPayload(room)
    mocker.roomPayload(room, { ...payload, memberIdList: [...payload.memberIdList, ...invitees] })
    puppet.emit('room-join', { roomId: room, inviteeIdList: invitees, inviterId: inviter, timestamp: Date.now() })
    return { room }
  },
  async sent () {
    return { sent: puppet.sent }
  },
}

const control = http.createServer((request, response) => {
  let body = ''
  request.on('data', chunk => { body += chunk })
  request.on('end', async () => {
    const action = actions[request.url.slice(1)]
    try {
      if (!action) throw new Error(`no action ${request.url}`)
      const result = await action(body ? JSON.parse(body) : {})
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify(result))
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain' })
      response.end(String(error && error.stack || error))
    }
  })
})

const server = new PuppetServer({ endpoint: `127.0.0.1:${grpcPort}`, puppet, token: TOKEN, tls: { disable: true } })
await server.start()
control.listen(controlPort, '127.0.0.1', () => console.log('ready'))

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    control.close()
    await server.stop().catch(() => {})
    process.exit(0)
  })
}
