# ruff: noqa: E501 - the strings below are CSS and JavaScript, not Python
"""The page's inline style and script. Everything the view needs is in these strings: no
network request, so the file works offline and from an e-mail attachment."""

CSS = """
*{box-sizing:border-box}body{margin:0;font:13px/1.35 system-ui,-apple-system,"Segoe UI",
Roboto,Helvetica,Arial,sans-serif;color:#222;background:#fafafa;display:flex;flex-direction:column;
height:100vh}header{padding:8px 14px;border-bottom:1px solid #ddd;background:#fff}
h1{font-size:16px;margin:0 0 2px}#note{color:#8a5a00}#counts{color:#555}
main{flex:1;display:flex;min-height:0}aside{width:230px;padding:10px 12px;border-right:1px solid
#ddd;background:#fff;overflow:auto}aside h2{font-size:12px;text-transform:uppercase;
letter-spacing:.04em;color:#666;margin:12px 0 4px}aside label{display:block;cursor:pointer;
white-space:nowrap}select,input[type=search]{width:100%;margin:2px 0}
.sw{display:inline-block;width:11px;height:11px;border-radius:50%;margin:0 5px -1px 0;
border:1px solid #0003}.ln{display:inline-block;width:26px;height:0;margin:0 5px 3px 0;
border-top-width:2px}#wrap{flex:1;position:relative;min-width:0}svg{width:100%;height:100%;
display:block;cursor:grab;background:#fff}svg text{pointer-events:none;font-size:10px;fill:#222;
paint-order:stroke;stroke:#fff;stroke-width:3px}svg .el{font-size:9px;fill:#444}
g.n circle{stroke:#fff;stroke-width:1.5;cursor:pointer}g.n.hl circle{stroke:#111;stroke-width:2.5}
g.n.grp circle{stroke:#777;stroke-dasharray:3 2}svg.dim g.n:not(.hot),svg.dim path.e:not(.hot),
svg.dim text.el:not(.hot){opacity:.12}path.e{fill:none}path.ah{stroke:none}
#tip{position:absolute;display:none;max-width:420px;background:#fffffff2;border:1px solid #bbb;
border-radius:6px;padding:8px 10px;box-shadow:0 2px 8px #0002;pointer-events:none;
white-space:pre-wrap;font-size:12px}#tip b{font-size:13px}#tip .k{color:#666}
#tip ul{margin:4px 0 0;padding-left:16px}.hid{display:none}
"""

JS = r"""
(function(){
const D=JSON.parse(document.getElementById('expgraph-data').textContent);
const NS='http://www.w3.org/2000/svg';
const svg=document.getElementById('view'),tip=document.getElementById('tip');
const gE=el('g',{},svg),gL=el('g',{},svg),gN=el('g',{},svg);
function el(t,a,p){const e=document.createElementNS(NS,t);for(const k in a)e.setAttribute(k,a[k]);
 if(p)p.appendChild(e);return e}
const N=D.nodes,E=D.edges;
const byW=N.map((n,i)=>i).sort((a,b)=>N[b].w-N[a].w);const named=new Set(byW.slice(0,60));
const showNames=N.length<=140;
// edge labels: all of them on small drawings, else the 30 heaviest and the highlighted ones
const labelled=new Set(E.map((e,i)=>i).filter(i=>E[i].label).sort((a,b)=>E[b].w-E[a].w).slice(0,30));
E.forEach((e,i)=>{if(e.label&&(e.hl||E.filter(x=>x.label).length<=60))labelled.add(i)});
const pairs=new Set(E.map(e=>e.s+'>'+e.t));
const adj=N.map(()=>[]);
E.forEach((e,i)=>{adj[e.s].push(i);adj[e.t].push(i)});
let minStep=1e9;
N.forEach((a,i)=>{N.forEach((b,j)=>{if(j>i&&Math.abs(a.y-b.y)<1){const d=Math.abs(a.x-b.x);
 if(d>1&&d<minStep)minStep=d}})});if(N.length>400)minStep=1e9;
// edges
E.forEach((e,i)=>{const a=N[e.s],b=N[e.t];let d;const w=Math.min(1+Math.log2(1+e.w)*0.9,6)*
 (e.hl?1.6:1);
 if(e.s===e.t){const r=b.r;d=`M${a.x-r*.6},${a.y-r*.8} C${a.x-r*2.5},${a.y-r*4} ${a.x+r*2.5},`+
  `${a.y-r*4} ${a.x+r*.6},${a.y-r*.8}`;e.mx=a.x;e.my=a.y-r*3.2;
 }else{const dx=b.x-a.x,dy=b.y-a.y,L=Math.hypot(dx,dy)||1;let bend=0;
  if(pairs.has(e.t+'>'+e.s))bend=.18;
  if(Math.abs(dy)<1&&L>minStep*1.5)bend=dx<0?-.35:.3;
  const cx=(a.x+b.x)/2-dy*bend,cy=(a.y+b.y)/2+dx*bend;
  const ux=b.x-cx,uy=b.y-cy,ul=Math.hypot(ux,uy)||1,ex=b.x-ux/ul*(b.r+2),ey=b.y-uy/ul*(b.r+2);
  d=`M${a.x},${a.y} Q${cx},${cy} ${ex},${ey}`;e.mx=(a.x+2*cx+ex)/4;e.my=(a.y+2*cy+ey)/4;
  const s=3+w*1.3,px=-uy/ul,py=ux/ul;
  e.ah=el('path',{class:'e ah',fill:e.c,d:`M${ex},${ey} L${ex-ux/ul*s*1.6+px*s*.7},${ey-uy/ul*s*1.6+
   py*s*.7} L${ex-ux/ul*s*1.6-px*s*.7},${ey-uy/ul*s*1.6-py*s*.7}Z`},gE)}
 e.p=el('path',{class:'e',d:d,stroke:e.c,'stroke-width':w,'stroke-dasharray':e.dash||'none',
  'stroke-opacity':e.hl?0.95:0.6},gE);el('title',{},e.p).textContent=e.type+(e.title?': '+e.title:'');
 if(labelled.has(i)){e.t_=el('text',{class:'el',x:e.mx,y:e.my,'text-anchor':'middle'},gL);
  e.t_.textContent=e.label}});
// nodes
N.forEach((n,i)=>{n.g=el('g',{class:'n'+(n.hl?' hl':'')+(n.group?' grp':'')},gN);
 el('circle',{cx:n.x,cy:n.y,r:n.r,fill:n.c},n.g);
 if(showNames||named.has(i)||n.hl){const t=el('text',{x:n.x,y:n.y-n.r-3,'text-anchor':'middle'},n.g);
  t.textContent=n.name}
 n.g.addEventListener('mouseenter',ev=>hover(i,ev));n.g.addEventListener('mousemove',move);
 n.g.addEventListener('mouseleave',()=>{svg.classList.remove('dim');tip.style.display='none';
  document.querySelectorAll('.hot').forEach(x=>x.classList.remove('hot'))})});
function esc(s){return String(s==null?'':s).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]))}
function hover(i,ev){const n=N[i];svg.classList.add('dim');n.g.classList.add('hot');
 adj[i].forEach(k=>{const e=E[k];[e.p,e.ah,e.t_].forEach(x=>x&&x.classList.add('hot'));
  N[e.s].g.classList.add('hot');N[e.t].g.classList.add('hot')});
 tip.innerHTML=`<b>${esc(n.name)}</b>\n<span class=k>${esc(n.label)}${n.tier?' · '+esc(n.tier):''}`+
  `${n.status?' · status: '+esc(n.status):''}${n.cl.length?' · cluster '+n.cl.join(', '):''}</span>\n`+
  `${esc(n.text)}`+(n.ev.length?'<ul>'+n.ev.map(x=>'<li>'+esc(x)+'</li>').join('')+'</ul>':'');
 tip.style.display='block';move(ev)}
function move(ev){const r=document.getElementById('wrap').getBoundingClientRect();
 let x=ev.clientX-r.left+14,y=ev.clientY-r.top+14;if(x+430>r.width)x=Math.max(4,x-450);
 if(y+tip.offsetHeight>r.height)y=Math.max(4,r.height-tip.offsetHeight-4);
 tip.style.left=x+'px';tip.style.top=y+'px'}
// view box, pan and zoom
let xs=N.map(n=>n.x),ys=N.map(n=>n.y);if(!N.length){xs=[0,600];ys=[0,300]}
// the whole drawing, but never zoomed in beyond ~1:1 (small graphs keep readable text)
const x0=Math.min(...xs)-150,y0=Math.min(...ys)-60,bw=Math.max(...xs)-x0+150,bh=Math.max(...ys)-y0+50;
const W=Math.max(bw,1000),H=Math.max(bh,640);
let vb=[x0-(W-bw)/2,y0-(H-bh)/2,W,H];
function setVB(){svg.setAttribute('viewBox',vb.join(' '))}setVB();
svg.addEventListener('wheel',ev=>{ev.preventDefault();const r=svg.getBoundingClientRect();
 const k=ev.deltaY>0?1.15:1/1.15,fx=(ev.clientX-r.left)/r.width,fy=(ev.clientY-r.top)/r.height;
 const nw=vb[2]*k,nh=vb[3]*k;vb=[vb[0]+(vb[2]-nw)*fx,vb[1]+(vb[3]-nh)*fy,nw,nh];setVB()},
 {passive:false});
let drag=null;svg.addEventListener('mousedown',ev=>{drag=[ev.clientX,ev.clientY,vb[0],vb[1]];
 svg.style.cursor='grabbing'});
window.addEventListener('mouseup',()=>{drag=null;svg.style.cursor=''});
window.addEventListener('mousemove',ev=>{if(!drag)return;const r=svg.getBoundingClientRect();
 const s=Math.max(vb[2]/r.width,vb[3]/r.height);
 vb[0]=drag[2]-(ev.clientX-drag[0])*s;vb[1]=drag[3]-(ev.clientY-drag[1])*s;setVB()});
// filters
const side=document.getElementById('filters');
function uniq(a){return [...new Set(a)].filter(x=>x!=null&&x!=='')}
function checks(title,vals,colour){if(vals.length<1)return null;const box=document.createElement('div');
 box.innerHTML='<h2>'+title+'</h2>';const set=new Set(vals);
 vals.forEach(v=>{const l=document.createElement('label');
  l.innerHTML=`<input type=checkbox checked> <span class=sw style="background:${colour(v)}"></span>${esc(v)}`;
  l.firstChild.addEventListener('change',ev=>{ev.target.checked?set.add(v):set.delete(v);apply()});
  box.appendChild(l)});side.appendChild(box);return set}
function select(title,vals,fmt){const box=document.createElement('div');box.innerHTML='<h2>'+title+
 '</h2>';const s=document.createElement('select');s.innerHTML='<option value="">all</option>'+
 vals.map(v=>`<option value="${esc(v)}">${esc(fmt(v))}</option>`).join('');
 if(vals.length<2)s.disabled=vals.length===0;s.addEventListener('change',apply);box.appendChild(s);
 side.appendChild(box);return s}
const colourOf={};N.forEach(n=>{colourOf[n.gl]=colourOf[n.gl]||n.c;if(n.tier)colourOf[n.tier]=n.c});
const labels=checks('Label',uniq(N.map(n=>n.gl)),v=>colourOf[v]);
const tiers=checks('Skill tier',uniq(N.filter(n=>n.gl==='Skill').map(n=>n.tier)),v=>colourOf[v]);
const clusters=select('Task cluster',uniq(N.flatMap(n=>n.cl)).sort((a,b)=>a-b),v=>'cluster '+v);
const nss=select('Namespace',uniq(N.map(n=>n.ns)),v=>v);
const sb=document.createElement('div');sb.innerHTML='<h2>Find</h2><input type=search placeholder="name or text">';
side.appendChild(sb);const find=sb.querySelector('input');find.addEventListener('input',apply);
const types=uniq(E.map(e=>e.type));if(types.length){const lg=document.createElement('div');
 lg.innerHTML='<h2>Edges</h2>'+types.map(t=>{const e=E.find(x=>x.type===t);
  return `<div><span class=ln style="border-top:2px ${e.dash?'dashed':'solid'} ${e.rate==null?e.c:'#777'}"></span>${esc(t)}</div>`}).join('')+
  (E.some(e=>e.rate!=null)?'<div class=k>colour: success rate <span style="color:#D55E00">0%</span> → <span style="color:#009E73">100%</span></div>':'');
 side.appendChild(lg)}
function apply(){const c=clusters.value,ns=nss.value,q=find.value.trim().toLowerCase();let vis=0;
 N.forEach(n=>{n.vis=n.label==='Query'||((!labels||labels.has(n.gl))&&
  (!tiers||n.gl!=='Skill'||tiers.has(n.tier))&&(!c||n.cl.includes(+c))&&(!ns||n.ns===ns));
  n.g.classList.toggle('hid',!n.vis);vis+=n.vis;
  n.g.querySelector('circle').setAttribute('stroke',q&&n.vis&&(n.name+' '+n.text).toLowerCase().includes(q)?'#e00':'')});
 E.forEach(e=>{const v=N[e.s].vis&&N[e.t].vis;[e.p,e.ah,e.t_].forEach(x=>x&&x.classList.toggle('hid',!v))});
 svg.dataset.visibleNodes=vis;
 document.getElementById('counts').textContent=`${N.length} nodes drawn${D.total>N.length?' (of '+D.total+' in the view)':''} · ${vis} visible · ${E.length} edges`}
// initial filters from the address, e.g. view.html#cluster=3&label=Skill,State&tier=atomic
const hp=new URLSearchParams(location.hash.slice(1));
if(hp.get('cluster'))clusters.value=hp.get('cluster');if(hp.get('ns'))nss.value=hp.get('ns');
if(hp.get('find'))find.value=hp.get('find');
[[labels,'label'],[tiers,'tier']].forEach(([set,k])=>{if(!set||!hp.get(k))return;
 const keep=hp.get(k).split(',');[...set].forEach(v=>{if(!keep.includes(v)){set.delete(v);
  side.querySelectorAll('label').forEach(l=>{if(l.textContent.trim()===v&&l.parentNode.textContent.startsWith(k==='label'?'Label':'Skill tier'))l.firstChild.checked=false})}})});
apply();
svg.dataset.drawnNodes=N.length;document.body.dataset.drawnNodes=N.length;
document.body.dataset.drawnEdges=E.length;document.body.dataset.ready='1';
})();
"""
