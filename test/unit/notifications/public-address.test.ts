import { describe, expect, it } from 'vitest';
import { nonPublicKind, isPublicAddress } from '../../../src/notifications/public-address.ts';
import { inspectDestination, pinnedLookup, RefusedDestination, type Resolve } from '../../../src/notifications/webhook-destination.ts';

describe('public address classifier', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'], ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'], ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'], ['169.254.0.1', 'link-local'],
    ['100.64.0.1', 'shared'], ['100.127.255.255', 'shared'],
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'], ['239.255.255.255', 'multicast'],
    ['255.255.255.255', 'broadcast'], ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'], ['198.51.100.1', 'reserved'], ['203.0.113.5', 'reserved'], ['198.18.0.1', 'reserved'], ['198.19.255.255', 'reserved'], ['192.0.0.8', 'reserved'],
  ])('IPv4 %s is %s', (ip, kind) => {
    expect(nonPublicKind(ip)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '169.253.255.255', '11.0.0.1', '192.169.0.1', '198.20.0.1', '223.255.255.255'])('IPv4 %s is public', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each([
    ['::1', 'loopback'], ['[::1]', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['febf::1', 'link-local'],
    ['fc00::1', 'private'], ['fd12:3456:789a::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'], ['2001::1', 'reserved'], ['3fff::1', 'reserved'], ['fec0::1', 'reserved'], ['100::1', 'reserved'], ['::2', 'reserved'],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['0:0:0:0:0:ffff:a00:1', 'private'], ['::ffff:169.254.169.254', 'link-local'],
    ['64:ff9b::10.0.0.1', 'private'], ['2002:7f00:1::', 'loopback'], ['2002:c0a8:101::1', 'private'],
  ])('IPv6 %s is %s', (ip, kind) => {
    expect(nonPublicKind(ip)).toBe(kind);
  });

  it.each(['2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8', '2002:808:808::1', '2001:200::1'])('IPv6 %s is public', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it('counts anything that is not an address as not public', () => {
    expect(nonPublicKind('localhost')).toBe('reserved');
    expect(nonPublicKind('')).toBe('reserved');
  });
});

describe('webhook destination check', () => {
  const resolveTo = (...addresses: string[]): Resolve => async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const strict = (resolve: Resolve = resolveTo('93.184.216.34')) => ({ allowPrivate: false, resolve });
  const refusal = async (url: string, resolve?: Resolve) => {
    const error = await inspectDestination(url, strict(resolve)).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(RefusedDestination);
    return error as RefusedDestination;
  };

  it('refuses literal non-public addresses (as the URL parser normalises them) and localhost, naming what was typed', async () => {
    expect((await refusal('http://10.0.0.1/')).message).toBe('This address points into a private network (10.0.0.1). Use a public address, or set USER_WEBHOOK_ALLOW_PRIVATE=true on a server that should reach its own network.');
    expect((await refusal('http://2130706433/')).message).toContain('points to this server itself (127.0.0.1)');
    expect((await refusal('http://0x7f.1:5432/')).message).toContain('(127.0.0.1)');
    expect((await refusal('http://[::ffff:169.254.169.254]/')).message).toContain('link-local');
    expect((await refusal('http://LocalHost./')).message).toContain('(localhost)');
    expect((await refusal('http://api.localhost/')).status).toBe('refused: private address');
  });

  it('refuses a name when any of its addresses is not public, without naming the address', async () => {
    const error = await refusal('https://hooks.example.com/x', resolveTo('93.184.216.34', '10.1.2.3'));
    expect(error.message).toBe('hooks.example.com resolves to an address that points into a private network. Use a public address, or set USER_WEBHOOK_ALLOW_PRIVATE=true on a server that should reach its own network.');
    expect(error.status).toBe('refused: private address');
    expect(`${error.message} ${error.status}`).not.toContain('10.1.2.3');
  });

  it('refuses credentials in the URL whatever the setting', async () => {
    expect((await refusal('https://user:pass@hooks.example.com/')).status).toBe('refused: credentials in URL');
    await expect(inspectDestination('https://user@10.0.0.1/', { allowPrivate: true, resolve: resolveTo() })).rejects.toThrow(/user name and password/);
  });

  it('answers the checked addresses for a name, none for an IP literal; allows private ones when told to', async () => {
    expect(await inspectDestination('https://hooks.example.com:8443/x', strict(resolveTo('93.184.216.34', '2606:4700::1')))).toEqual([{ address: '93.184.216.34', family: 4 }, { address: '2606:4700::1', family: 6 }]);
    expect(await inspectDestination('http://8.8.8.8:9999/', strict())).toBeNull();
    expect(await inspectDestination('http://localhost/', { allowPrivate: true, resolve: resolveTo('127.0.0.1') })).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(await inspectDestination('http://10.0.0.1/', { allowPrivate: true, resolve: resolveTo() })).toBeNull();
  });

  it('passes DNS failures through (not a refusal)', async () => {
    const failing: Resolve = async () => { throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }); };
    await expect(inspectDestination('https://nowhere.example/', strict(failing))).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(inspectDestination('https://nowhere.example/', strict(resolveTo()))).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('pins lookups to the checked addresses, by family when asked', () => {
    const lookup = pinnedLookup([{ address: '93.184.216.34', family: 4 }, { address: '2606:4700::1', family: 6 }]);
    const answers: unknown[] = [];
    lookup('hooks.example.com', { all: true }, (err, address) => answers.push(err ?? address));
    lookup('hooks.example.com', { family: 6 }, (err, address, family) => answers.push([address, family]));
    lookup('hooks.example.com', { family: 4, all: true }, (err, address) => answers.push(address));
    lookup('v4only.example.com', { family: 6 }, () => undefined);
    pinnedLookup([{ address: '93.184.216.34', family: 4 }])('v4only.example.com', { family: 6 }, (err) => answers.push((err as NodeJS.ErrnoException).code));
    expect(answers).toEqual([
      [{ address: '93.184.216.34', family: 4 }, { address: '2606:4700::1', family: 6 }],
      ['2606:4700::1', 6],
      [{ address: '93.184.216.34', family: 4 }],
      'ENOTFOUND',
    ]);
  });
});
