// Raw HTTP/1.1 over a socket, for requests fetch cannot send (no length, chunked by hand, cut off).

import net from 'node:net';

/** Sends a raw request and reads the answer, for bodies fetch cannot send (chunked, cut off). */
export function rawRequest(port: number, head: string, body: Buffer | string, endSocket = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(body);
      if (endSocket) socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}
