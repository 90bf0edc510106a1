(function(){
"use strict";
var D=window.DIFFUHAND_DATA,T=window.THREE;
var BONES=[[0,1],[1,2],[2,3],[3,4],[0,5],[5,6],[6,7],[7,8],[0,9],[9,10],[10,11],[11,12],[0,13],[13,14],[14,15],[15,16],[0,17],[17,18],[18,19],[19,20],[5,9],[9,13],[13,17]];
var COLS=[0x4da3ff,0xff7a45];
function uncCol(u){var t=Math.max(0,Math.min(1,(u||0)/15));return new T.Color().setRGB(t,1-t,0.2);}
function b64(s,Type){var b=atob(s),a=new Uint8Array(b.length);for(var i=0;i<b.length;i++)a[i]=b.charCodeAt(i);return new Type(a.buffer);}
var canvas=document.getElementById("three");
var renderer=new T.WebGLRenderer({canvas:canvas,antialias:true,preserveDrawingBuffer:true});
renderer.setClearColor(0x2a2d34);
var scene=new T.Scene(),cam=new T.PerspectiveCamera(40,1,1,5000);
cam.position.set(0,0,-450);cam.up.set(0,-1,0);cam.lookAt(0,0,0);
scene.add(new T.AmbientLight(0xffffff,0.6));var dl=new T.DirectionalLight(0xffffff,1.2);dl.position.set(100,-200,-300);scene.add(dl);
var controls=new T.OrbitControls(cam,canvas);controls.enableDamping=false;
var group=new T.Group();scene.add(group);
var sphere=new T.SphereGeometry(3,10,8);
function handOffset(hs,i){if(hs.length<2)return 0;var W=D.width||1;
  var cx=function(h){return h.j2?h.j2.reduce(function(a,p){return a+p[0];},0)/21:W/2;};
  var r=hs.map(cx).slice().sort(function(a,b){return a-b;}).indexOf(cx(hs[i]));return (r-(hs.length-1)/2)*140;}
function build(frame){
  while(group.children.length){var c=group.children.pop();if(c.geometry&&c.geometry!==sphere)c.geometry.dispose();}
  var hs=frame.hands||[];
  hs.forEach(function(h,i){
    if(!h.j3)return;var off=handOffset(hs,i),c=h.j3[9]||[0,0,0];
    var g=new T.Group();g.position.set(off-c[0]*0.5,-c[1]*0.5,-c[2]*0.5);group.add(g);
    if(h.mesh){var geo=new T.BufferGeometry();geo.setAttribute("position",new T.BufferAttribute(b64(h.mesh.v,Float32Array),3));
      geo.setIndex(new T.BufferAttribute(b64(h.mesh.f,Uint32Array),1));geo.computeVertexNormals();
      g.add(new T.Mesh(geo,new T.MeshStandardMaterial({color:0xe0b090,transparent:true,opacity:0.55,side:T.DoubleSide,depthWrite:false})));}
    var pts=[];BONES.forEach(function(b){pts.push(new T.Vector3().fromArray(h.j3[b[0]]),new T.Vector3().fromArray(h.j3[b[1]]));});
    g.add(new T.LineSegments(new T.BufferGeometry().setFromPoints(pts),new T.LineBasicMaterial({color:COLS[i%2]})));
    h.j3.forEach(function(p,k){var m=new T.Mesh(sphere,new T.MeshBasicMaterial({color:uncCol(h.unc&&h.unc[k])}));m.position.fromArray(p);g.add(m);});
  });
}
function resize(){var w=canvas.clientWidth,h=canvas.clientHeight;renderer.setSize(w,h,false);cam.aspect=w/h;cam.updateProjectionMatrix();}
var img=document.getElementById("img2d"),ov=document.getElementById("ov");
function draw2d(frame){
  var W=D.width||img.naturalWidth||1,H=D.height||img.naturalHeight||1;
  ov.width=ov.clientWidth;ov.height=ov.clientHeight;var x=ov.getContext("2d");x.clearRect(0,0,ov.width,ov.height);
  var s=Math.min(ov.width/W,ov.height/H),ox=(ov.width-W*s)/2,oy=(ov.height-H*s)/2;
  (frame.hands||[]).forEach(function(h,i){if(!h.j2)return;x.lineWidth=2;x.strokeStyle=i%2?"#ff7a45":"#4da3ff";
    BONES.forEach(function(b){x.beginPath();x.moveTo(ox+h.j2[b[0]][0]*s,oy+h.j2[b[0]][1]*s);x.lineTo(ox+h.j2[b[1]][0]*s,oy+h.j2[b[1]][1]*s);x.stroke();});
    h.j2.forEach(function(p,k){x.fillStyle="#"+uncCol(h.unc&&h.unc[k]).getHexString();x.beginPath();x.arc(ox+p[0]*s,oy+p[1]*s,3,0,7);x.fill();});});
}
var angDiv=document.getElementById("angles");
function drawAngles(frame){
  var h=(frame.hands||[])[0],L=D.limits,html="";
  (D.angle_names||[]).forEach(function(n,k){var lo=L.min[k],hi=L.max[k],v=h&&h.angles?h.angles[k]:null;
    var span=Math.max(hi-lo,1e-6),pos=v===null?null:Math.max(0,Math.min(1,(v-lo)/span));
    html+='<div class="ang"><b title="'+n+'">'+n+'</b><div class="rng">'+(pos===null?"":'<div class="val" style="left:calc('+(pos*100).toFixed(1)+'% - 1px)"></div>')+
      '</div><span>'+(v===null?"&ndash;":(v*57.2958).toFixed(0)+"&deg;")+'</span></div>';});
  angDiv.innerHTML=html;
}
var scrub=document.getElementById("scrub"),fr=document.getElementById("fr"),cur=-1;
function show(i){
  i=Math.max(0,Math.min(D.frames.length-1,i|0));if(i===cur)return;cur=i;var f=D.frames[i];
  var src=D.kind==="video"?D.images[i]:D.image;if(src)img.src="data:image/jpeg;base64,"+src;
  build(f);draw2d(f);drawAngles(f);scrub.value=i;
  fr.textContent=D.kind==="video"?("frame "+i+" / "+(D.frames.length-1)+" ("+f.status+", "+(f.hands||[]).length+" hand(s))"):((f.hands||[]).length+" hand(s)");
  document.body.dataset.frame=i;document.body.dataset.hands=(f.hands||[]).length;
}
scrub.max=D.frames.length-1;
scrub.addEventListener("input",function(){show(+scrub.value);});
var tl=document.getElementById("tl");
if(D.kind==="video"){var step=Math.max(1,Math.ceil(D.frames.length/600)),h="";
  for(var i=0;i<D.frames.length;i+=step){var st="found";for(var j=i;j<Math.min(i+step,D.frames.length);j++){var s=D.frames[j].status;if(s==="missing")st="missing";else if(s==="bridged"&&st!=="missing")st="bridged";}h+='<span class="'+st+'"></span>';}
  tl.innerHTML=h;}
else{document.getElementById("bar").style.display="none";}
var playing=false,last=0,fps=D.fps||25;
document.getElementById("play").addEventListener("click",function(){playing=!playing;this.textContent=playing?"pause":"play";last=performance.now();});
img.addEventListener("load",function(){draw2d(D.frames[cur]);});
window.addEventListener("resize",function(){resize();draw2d(D.frames[cur]);});
window.diffuhandShow=show;
resize();show(0);
function loop(t){requestAnimationFrame(loop);
  if(playing&&t-last>=1000/fps){last=t;show(cur+1>=D.frames.length?0:cur+1);}
  controls.update();renderer.render(scene,cam);}
requestAnimationFrame(loop);
document.body.dataset.ready="1";
})();
